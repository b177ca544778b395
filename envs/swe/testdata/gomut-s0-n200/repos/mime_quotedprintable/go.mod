module example.com/mime_quotedprintable

go 1.24
