module example.com/math_bits

go 1.24
