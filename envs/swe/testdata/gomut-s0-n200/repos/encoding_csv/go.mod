module example.com/encoding_csv

go 1.24
