module github.com/soup-rpc/soup-rpc/peer-contract

go 1.26.0
