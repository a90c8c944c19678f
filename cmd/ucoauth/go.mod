module github.com/ucoauth/go-ucoauth/cmd/ucoauth

go 1.26.0

replace (
	github.com/ucoauth/go-ucoauth => ../..
	github.com/ucoauth/go-ucoauth/internal/testservers => ../../internal/testservers
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore => ../../tokenstore/redisstore
	github.com/ucoauth/go-ucoauth/tokenstore/sqlstore => ../../tokenstore/sqlstore
)

require (
	github.com/go-sql-driver/mysql v1.10.1
	github.com/jackc/pgx/v5 v5.12.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
	github.com/ucoauth/go-ucoauth v0.0.0-00010101000000-000000000000
	github.com/ucoauth/go-ucoauth/internal/testservers v0.0.0-00010101000000-000000000000
	golang.org/x/oauth2 v0.37.0
	modernc.org/sqlite v1.40.1
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/alicebob/miniredis/v2 v2.40.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/gofrs/flock v0.13.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/ucoauth/go-ucoauth/tokenstore/redisstore v0.0.0-00010101000000-000000000000
	github.com/ucoauth/go-ucoauth/tokenstore/sqlstore v0.0.0-00010101000000-000000000000
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
