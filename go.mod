module github.com/gopptp/gopptp

go 1.25
