module example.com/encoding_hex

go 1.24
