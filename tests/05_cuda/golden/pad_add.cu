extern "C" __global__ void E_5(float* __restrict__ data0, const float* __restrict__ data1) {
  int lidx0 = threadIdx.x;  /* 0..4 */          // SPECIAL
  int alu0 = lidx0 - 1;                         // ALU SUB
  bool alu1 = 0 < lidx0;                        // ALU CMPLT
  bool alu2 = lidx0 < 4;                        // ALU CMPLT
  bool alu3 = alu1 & alu2;                      // ALU AND
  float val0 = alu3 ? data1[alu0] : 0.0f;       // LOAD gated
  float alu4 = val0 + 1.0f;                     // ALU ADD
  data0[lidx0] = alu4;                          // STORE
}
