#include <stdbool.h>
/* numpy's a // b for int8: rounds toward -infinity (C's / rounds toward 0); x // 0 == 0 */
static inline signed char idiv_int8(signed char a, signed char b) {
  if (b == 0) return 0;
  if (b == -1) return -a;  /* MIN // -1 wraps to MIN (-fwrapv) instead of trapping */
  signed char q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
/* numpy's a % b for int8: the sign of the divisor (C: of the dividend); x % 0 == 0 */
static inline signed char mod_int8(signed char a, signed char b) {
  if (b == 0 || b == -1) return 0;  /* MIN % -1 would trap */
  signed char r = a % b;
  return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}
static inline signed char max_int8(signed char a, signed char b) { return a > b ? a : b; }

void E_ops(signed char* restrict data0, signed char* restrict data1, signed char* restrict data2, signed char* restrict data3, bool* restrict data4, signed char* restrict data5, const signed char* restrict data6, const signed char* restrict data7, const bool* restrict data8) {
  for (int gidx0 = 0; gidx0 < 8; gidx0++) {     // RANGE GLOBAL
    signed char val0 = data6[gidx0];            // LOAD
    signed char val1 = data7[gidx0];            // LOAD
    bool val2 = data8[gidx0];                   // LOAD
    signed char alu0 = idiv_int8(val0, val1);   // ALU IDIV
    data0[gidx0] = alu0;                        // STORE
    signed char alu1 = mod_int8(val0, val1);    // ALU MOD
    data1[gidx0] = alu1;                        // STORE
    signed char alu2 = max_int8(val0, val1);    // ALU MAX
    data2[gidx0] = alu2;                        // STORE
    signed char alu3 = -val0;                   // ALU NEG
    data3[gidx0] = alu3;                        // STORE
    bool alu4 = val0 < val1;                    // ALU CMPLT
    data4[gidx0] = alu4;                        // STORE
    signed char alu5 = val2 ? val0 : val1;      // ALU WHERE
    data5[gidx0] = alu5;                        // STORE
  }                                             // END
}
