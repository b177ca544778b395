module example.com/regexp_syntax

go 1.24
