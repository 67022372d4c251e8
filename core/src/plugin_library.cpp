// Being written: see core/include/inference/registry.hpp
