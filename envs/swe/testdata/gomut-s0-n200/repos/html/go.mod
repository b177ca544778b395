module example.com/html

go 1.24
