extern "C" __global__ void E_1009(float* __restrict__ data0, const float* __restrict__ data1) {
  int gidx0 = blockIdx.x * 128 + threadIdx.x;  /* 0..1008 */  // SPECIAL
  if (gidx0 >= 1009) return;  /* the grid is rounded up to whole blocks */  // SPECIAL
  float val0 = data1[gidx0];                    // LOAD
  float alu0 = val0 * 2.0f;                     // ALU MUL
  data0[gidx0] = alu0;                          // STORE
}
