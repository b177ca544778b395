module example.com/encoding_pem

go 1.24
