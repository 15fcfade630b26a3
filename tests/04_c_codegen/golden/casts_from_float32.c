#include <stdbool.h>
typedef _Float16 half;  /* storage only: float16 values are computed in float */

void E_casts(bool* restrict data0, signed char* restrict data1, unsigned char* restrict data2, short* restrict data3, int* restrict data4, long long* restrict data5, half* restrict data6, float* restrict data7, double* restrict data8, const float* restrict data9, const float* restrict data10, const float* restrict data11, const float* restrict data12, const float* restrict data13, const float* restrict data14, const float* restrict data15, const float* restrict data16, const float* restrict data17) {
  for (int gidx0 = 0; gidx0 < 8; gidx0++) {     // RANGE GLOBAL
    float val0 = data9[gidx0];                  // LOAD
    bool cast0 = val0 != 0;                     // CAST to bool
    data0[gidx0] = cast0;                       // STORE
    float val1 = data10[gidx0];                 // LOAD
    signed char cast1 = (signed char)val1;      // CAST to int8
    data1[gidx0] = cast1;                       // STORE
    float val2 = data11[gidx0];                 // LOAD
    unsigned char cast2 = (unsigned char)val2;  // CAST to uint8
    data2[gidx0] = cast2;                       // STORE
    float val3 = data12[gidx0];                 // LOAD
    short cast3 = (short)val3;                  // CAST to int16
    data3[gidx0] = cast3;                       // STORE
    float val4 = data13[gidx0];                 // LOAD
    int cast4 = (int)val4;                      // CAST to int32
    data4[gidx0] = cast4;                       // STORE
    float val5 = data14[gidx0];                 // LOAD
    long long cast5 = (long long)val5;          // CAST to int64
    data5[gidx0] = cast5;                       // STORE
    float val6 = data15[gidx0];                 // LOAD
    float cast6 = (half)val6;                   // CAST to float16
    data6[gidx0] = cast6;                       // STORE
    float val7 = data16[gidx0];                 // LOAD
    float cast7 = (float)val7;                  // CAST to float32
    data7[gidx0] = cast7;                       // STORE
    float val8 = data17[gidx0];                 // LOAD
    double cast8 = (double)val8;                // CAST to float64
    data8[gidx0] = cast8;                       // STORE
  }                                             // END
}
