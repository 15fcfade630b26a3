/* numpy's a // b for int32: rounds toward -infinity (C's / rounds toward 0); x // 0 == 0 */
static __device__ inline int idiv_int32(int a, int b) {
  if (b == 0) return 0;
  if (b == -1) return (int)((unsigned int)0 - (unsigned int)a);  /* MIN // -1 wraps to MIN (in unsigned) instead of trapping */
  int q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
/* numpy's a % b for int32: the sign of the divisor (C: of the dividend); x % 0 == 0 */
static __device__ inline int mod_int32(int a, int b) {
  if (b == 0 || b == -1) return 0;  /* MIN % -1 would trap */
  int r = a % b;
  return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}
static __device__ inline int max_int32(int a, int b) { return a > b ? a : b; }

extern "C" __global__ void E_ops(int* __restrict__ data0, int* __restrict__ data1, int* __restrict__ data2, int* __restrict__ data3, int* __restrict__ data4, int* __restrict__ data5, const int* __restrict__ data6, const int* __restrict__ data7, const bool* __restrict__ data8) {
  for (int gidx0 = 0; gidx0 < 8; gidx0++) {     // RANGE GLOBAL
    int val0 = data6[gidx0];                    // LOAD
    int val1 = data7[gidx0];                    // LOAD
    bool val2 = data8[gidx0];                   // LOAD
    int alu0 = idiv_int32(val0, val1);          // ALU IDIV
    data0[gidx0] = alu0;                        // STORE
    int alu1 = mod_int32(val0, val1);           // ALU MOD
    data1[gidx0] = alu1;                        // STORE
    int alu2 = max_int32(val0, val1);           // ALU MAX
    data2[gidx0] = alu2;                        // STORE
    int alu3 = (int)((unsigned int)val0 + (unsigned int)val1);  // ALU ADD
    data3[gidx0] = alu3;                        // STORE
    int alu4 = (int)((unsigned int)val0 * (unsigned int)val1);  // ALU MUL
    data4[gidx0] = alu4;                        // STORE
    int alu5 = (int)((unsigned int)0 - (unsigned int)val0);  // ALU NEG
    data5[gidx0] = alu5;                        // STORE
  }                                             // END
}
