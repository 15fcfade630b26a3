#include <math.h>
typedef _Float16 half;  /* storage only: float16 values are computed in float */
/* np.maximum on float16 (computed in float): NaN wins; on a tie (0.0 vs -0.0) a is kept */
static inline float max_float16(float a, float b) { return (a >= b || a != a) ? a : b; }

void r_max_half(half* restrict data0, const half* restrict data1) {
  for (int ridx0 = 0; ridx0 < 4; ridx0++) {     // RANGE GLOBAL axis 0
    float acc0 = -INFINITY;                     // DEFINE_ACC
    for (int ridx1 = 0; ridx1 < 8; ridx1++) {   // RANGE REDUCE axis 1
      int alu0 = ridx0 * 8;                     // ALU MUL
      int alu1 = alu0 + ridx1;                  // ALU ADD
      float val0 = data1[alu1];                 // LOAD
      float alu2 = (half)(max_float16(acc0, val0));  // ALU MAX
      acc0 = alu2;                              // ASSIGN
    }                                           // END
    data0[ridx0] = acc0;                        // STORE
  }                                             // END
}
