module example.com/container_heap

go 1.24
