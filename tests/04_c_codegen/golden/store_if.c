#include <stdbool.h>
/* numpy's a % b for int32: the sign of the divisor (C: of the dividend); x % 0 == 0 */
static inline int mod_int32(int a, int b) {
  if (b == 0 || b == -1) return 0;  /* MIN % -1 would trap */
  int r = a % b;
  return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}

void E_if(float* restrict data0, const float* restrict data1) {
  for (int ridx0 = 0; ridx0 < 8; ridx0++) {     // RANGE GLOBAL axis 0
    int alu0 = mod_int32(ridx0, 2);             // ALU MOD
    bool alu1 = alu0 != 1;                      // ALU CMPNE
    if (alu1) {                                 // IF
      float val0 = data1[ridx0];                // LOAD
      float alu2 = val0 * 2.0f;                 // ALU MUL
      data0[ridx0] = alu2;                      // STORE
    }                                           // ENDIF
  }                                             // END
}
