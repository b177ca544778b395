module example.com/image_color

go 1.24
