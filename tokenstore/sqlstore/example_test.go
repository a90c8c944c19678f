package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"golang.org/x/oauth2"
	_ "modernc.org/sqlite" // your application picks the driver
)

// A SQL store on SQLite; PostgreSQL (pgx's stdlib, "pgx") and MySQL or
// MariaDB (go-sql-driver/mysql, "mysql") work the same way with their
// Dialect.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "tokens")
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "tokens.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := sqlstore.New(ctx, db, sqlstore.SQLite, sqlstore.WithTable("myapp_tokens"))
	if err != nil {
		log.Fatal(err)
	}
	tok := &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, "merchant-1", tok); err != nil {
		log.Fatal(err)
	}
	keys, _ := store.Keys(ctx)
	var n int
	_ = db.QueryRow("SELECT count(*) FROM myapp_tokens").Scan(&n)
	fmt.Println(keys, n)
	// Output: [merchant-1] 1
}
