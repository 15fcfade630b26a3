#include <math.h>
typedef _Float16 half;  /* storage only: float16 values are computed in float */
/* np.maximum on float16 (computed in float): NaN wins; on a tie (0.0 vs -0.0) a is kept */
static inline float max_float16(float a, float b) { return (a >= b || a != a) ? a : b; }

void r_max_half(half* restrict data0, const half* restrict data1) {
  for (int gidx0 = 0; gidx0 < 4; gidx0++) {     // RANGE GLOBAL
    float acc0 = -INFINITY;                     // DEFINE_ACC
    for (int ridx0 = 0; ridx0 < 8; ridx0++) {   // RANGE REDUCE
      int alu0 = gidx0 * 8;                     // ALU MUL
      int alu1 = alu0 + ridx0;                  // ALU ADD
      float val0 = data1[alu1];                 // LOAD
      float alu2 = (half)(max_float16(acc0, val0));  // ALU MAX
      acc0 = alu2;                              // ASSIGN
    }                                           // END
    data0[gidx0] = acc0;                        // STORE
  }                                             // END
}
