#include <stdbool.h>

void E_pad(float* restrict data0, const float* restrict data1) {
  for (int gidx0 = 0; gidx0 < 7; gidx0++) {     // RANGE GLOBAL
    bool alu0 = 0 < gidx0;                      // ALU CMPLT
    bool alu1 = gidx0 < 5;                      // ALU CMPLT
    bool alu2 = alu0 & alu1;                    // ALU AND
    int alu3 = gidx0 - 1;                       // ALU SUB
    float val0 = alu2 ? data1[alu3] : 0.0f;     // LOAD gated | from Tensor.pad at demo.py:9
    data0[gidx0] = val0;                        // STORE
  }                                             // END
}
