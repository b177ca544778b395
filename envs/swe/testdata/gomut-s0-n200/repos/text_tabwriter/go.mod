module example.com/text_tabwriter

go 1.24
