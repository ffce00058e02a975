/* tests/unit/test_json.c — placeholder until helper A writes it: fails so it cannot be mistaken for a test. */
int main(void) { return 1; }
