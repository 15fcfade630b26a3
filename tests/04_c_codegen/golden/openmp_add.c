void E_65536(float* restrict data0, const float* restrict data1, const float* restrict data2) {
  #pragma omp parallel for                      // 65536-iteration GLOBAL loop on all cores
  for (int gidx0 = 0; gidx0 < 65536; gidx0++) {  // RANGE GLOBAL
    float val0 = data1[gidx0];                  // LOAD | from Tensor.__add__ at demo.py:4
    float val1 = data2[gidx0];                  // LOAD
    float alu0 = val0 + val1;                   // ALU ADD | from Tensor.__add__ at demo.py:4
    data0[gidx0] = alu0;                        // STORE | from Tensor.__add__ at demo.py:4
  }                                             // END
}
