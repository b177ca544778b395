module example.com/container_list

go 1.24
