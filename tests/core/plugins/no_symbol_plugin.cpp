// libbackend_testnosymbol.so: a shared object that is not an inference plugin.
extern "C" __attribute__((visibility("default"))) int inference_testnosymbol_answer() { return 42; }
