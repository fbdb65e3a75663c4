package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// dbVars name the variable behind each postgres.Config field DB reads.
var dbVars = map[string]string{
	"Host": "FFB_DB_HOST", "Port": "FFB_DB_PORT", "Database": "FFB_DB_NAME", "User": "FFB_DB_USER",
	"Auth": "FFB_DB_AUTH", "Password": "FFB_DB_PASSWORD", "SSLMode": "FFB_DB_SSLMODE",
	"CAFile": "FFB_DB_CA_FILE", "Region": "AWS_REGION",
}

// DB reads the database settings from FFB_DB_HOST, FFB_DB_PORT (default 5432),
// FFB_DB_NAME (default my-pg-db), FFB_DB_USER (default the broker's login of
// FFB_ROLE_PREFIX's role model, broker.Names: my_pg_password_broker), FFB_DB_AUTH
// (iam or password, default iam), FFB_DB_PASSWORD (password mode only),
// FFB_DB_SSLMODE (default verify-full), FFB_DB_CA_FILE and AWS_REGION.
//
// It validates the result, loads the CA file, and names the variable in every
// error ("FFB_DB_PORT: must be 1-65535"). The timeouts and the application name
// keep their defaults.
func DB(getenv func(string) string) (postgres.Config, error) {
	c := postgres.Config{
		Host:     getenv("FFB_DB_HOST"),
		Database: getenv("FFB_DB_NAME"),
		User:     getenv("FFB_DB_USER"),
		Auth:     getenv("FFB_DB_AUTH"),
		SSLMode:  getenv("FFB_DB_SSLMODE"),
		CAFile:   getenv("FFB_DB_CA_FILE"),
		Region:   getenv("AWS_REGION"),
	}
	if p := getenv("FFB_DB_PASSWORD"); p != "" {
		c.Password = broker.NewPassword(p)
	}
	names := broker.Names{Prefix: getenv("FFB_ROLE_PREFIX")}.WithDefaults()
	if c.Database == "" {
		c.Database = names.DBName
	}
	if c.User == "" {
		c.User = names.Roles().Broker
	}
	if c.Auth == "" {
		c.Auth = postgres.AuthIAM
	}
	c.Port = postgres.DefaultPort
	if s := getenv("FFB_DB_PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return postgres.Config{}, errors.New("FFB_DB_PORT: must be 1-65535")
		}
		c.Port = p
	}
	c, err := c.Ready()
	if err != nil {
		return postgres.Config{}, dbError(err)
	}
	return c, nil
}

// dbError names the variable behind a postgres.FieldError.
func dbError(err error) error {
	var fe *postgres.FieldError
	if errors.As(err, &fe) {
		if name := dbVars[fe.Field]; name != "" {
			return fmt.Errorf("%s: %s", name, fe.Msg)
		}
	}
	return err
}

// loginEnv is getenv with FFB_DB_USER and FFB_DB_PASSWORD answered by user and
// password: another function's own login on the same database.
func loginEnv(getenv func(string) string, user, password string, withPassword bool) func(string) string {
	return func(k string) string {
		switch {
		case k == "FFB_DB_USER":
			return user
		case k == "FFB_DB_PASSWORD" && withPassword:
			return password
		}
		return getenv(k)
	}
}
