/* tests/unit/test_expr.c — placeholder until helper B writes it: fails so it cannot be mistaken for a test. */
int main(void) { return 1; }
