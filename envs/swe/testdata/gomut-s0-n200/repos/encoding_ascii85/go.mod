module example.com/encoding_ascii85

go 1.24
