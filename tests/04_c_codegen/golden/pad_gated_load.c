#include <stdbool.h>

void E_pad(float* restrict data0, const float* restrict data1) {
  for (int ridx0 = 0; ridx0 < 7; ridx0++) {     // RANGE GLOBAL axis 0
    bool alu0 = 0 < ridx0;                      // ALU CMPLT
    bool alu1 = ridx0 < 5;                      // ALU CMPLT
    bool alu2 = alu0 & alu1;                    // ALU AND
    int alu3 = ridx0 - 1;                       // ALU SUB
    float val0 = alu2 ? data1[alu3] : 0.0f;     // LOAD gated | from Tensor.pad at demo.py:9
    data0[ridx0] = val0;                        // STORE
  }                                             // END
}
