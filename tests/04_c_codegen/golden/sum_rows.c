void r_4_8(float* restrict data0, const float* restrict data1) {
  for (int gidx0 = 0; gidx0 < 4; gidx0++) {     // RANGE GLOBAL
    float acc0 = 0.0f;                          // DEFINE_ACC
    for (int ridx0 = 0; ridx0 < 8; ridx0++) {   // RANGE REDUCE
      int alu0 = gidx0 * 8;                     // ALU MUL
      int alu1 = alu0 + ridx0;                  // ALU ADD
      float val0 = data1[alu1];                 // LOAD
      float alu2 = acc0 + val0;                 // ALU ADD | from Tensor.sum at demo.py:7
      acc0 = alu2;                              // ASSIGN
    }                                           // END
    data0[gidx0] = acc0;                        // STORE
  }                                             // END
}
