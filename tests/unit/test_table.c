/* tests/unit/test_table.c — placeholder until helper C writes it: fails so it cannot be mistaken for a test. */
int main(void) { return 1; }
