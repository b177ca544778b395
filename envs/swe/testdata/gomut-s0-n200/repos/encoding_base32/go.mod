module example.com/encoding_base32

go 1.24
