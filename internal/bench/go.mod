module github.com/ucoauth/go-ucoauth/internal/bench

go 1.26.0

replace (
	github.com/ucoauth/go-ucoauth => ../..
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore => ../../tokenstore/redisstore
	github.com/ucoauth/go-ucoauth/tokenstore/sqlstore => ../../tokenstore/sqlstore
	github.com/ucoauth/go-ucoauth/internal/testservers => ../../internal/testservers
)
