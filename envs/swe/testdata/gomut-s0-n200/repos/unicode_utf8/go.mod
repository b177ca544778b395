module example.com/unicode_utf8

go 1.24
