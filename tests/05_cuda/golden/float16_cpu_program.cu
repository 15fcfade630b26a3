#include <cuda_fp16.h>  /* half = __half: storage only, computed in float */

extern "C" __global__ void E_half(half* __restrict__ data0, const half* __restrict__ data1, const half* __restrict__ data2) {
  for (int gidx0 = 0; gidx0 < 8; gidx0++) {     // RANGE GLOBAL
    float val0 = data1[gidx0];                  // LOAD | from Tensor.__add__ at demo.py:4
    float val1 = data2[gidx0];                  // LOAD
    float alu0 = (half)(val0 + val1);           // ALU ADD | from Tensor.__add__ at demo.py:4
    data0[gidx0] = alu0;                        // STORE | from Tensor.__add__ at demo.py:4
  }                                             // END
}
