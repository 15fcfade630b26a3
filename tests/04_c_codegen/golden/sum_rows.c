void r_4_8(float* restrict data0, const float* restrict data1) {
  for (int ridx0 = 0; ridx0 < 4; ridx0++) {     // RANGE GLOBAL axis 0
    float acc0 = 0.0f;                          // DEFINE_ACC
    for (int ridx1 = 0; ridx1 < 8; ridx1++) {   // RANGE REDUCE axis 1
      int alu0 = ridx0 * 8;                     // ALU MUL
      int alu1 = alu0 + ridx1;                  // ALU ADD
      float val0 = data1[alu1];                 // LOAD
      float alu2 = acc0 + val0;                 // ALU ADD | from Tensor.sum at demo.py:7
      acc0 = alu2;                              // ASSIGN
    }                                           // END
    data0[ridx0] = acc0;                        // STORE
  }                                             // END
}
