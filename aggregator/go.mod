module github.com/branchwatch/branchwatch/aggregator

go 1.26.8

replace github.com/branchwatch/branchwatch/shared => ../shared

replace github.com/branchwatch/branchwatch/web => ../web
