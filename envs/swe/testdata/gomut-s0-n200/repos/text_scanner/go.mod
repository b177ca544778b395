module example.com/text_scanner

go 1.24
