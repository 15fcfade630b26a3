#include <stdbool.h>
/* numpy's a % b for int32: the sign of the divisor (C: of the dividend); x % 0 == 0 */
static inline int mod_int32(int a, int b) {
  if (b == 0 || b == -1) return 0;  /* MIN % -1 would trap */
  int r = a % b;
  return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}

void E_if(float* restrict data0, const float* restrict data1) {
  for (int gidx0 = 0; gidx0 < 8; gidx0++) {     // RANGE GLOBAL
    int alu0 = mod_int32(gidx0, 2);             // ALU MOD
    bool alu1 = alu0 != 1;                      // ALU CMPNE
    if (alu1) {                                 // IF
      float val0 = data1[gidx0];                // LOAD
      float alu2 = val0 * 2.0f;                 // ALU MUL
      data0[gidx0] = alu2;                      // STORE
    }                                           // ENDIF
  }                                             // END
}
