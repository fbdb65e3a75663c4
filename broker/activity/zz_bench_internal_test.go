package activity

import "testing"

func BenchmarkZZKinds(b *testing.B) {
	for _, tc := range []struct{ name, line string }{
		{"received", "2026-11-21 00:00:00 UTC:10.12.13.14(40000):[unknown]@[unknown]:[12345]:LOG:  connection received: host=10.12.13.14 port=40000"},
		{"authorized", "2026-11-21 00:00:00 UTC:10.12.13.14(40000):report_reader@my-pg-db:[12345]:LOG:  connection authorized: user=report_reader database=my-pg-db application_name=psql SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)"},
		{"authorized-plain", "2026-11-21 00:00:00 UTC:10.12.13.14(40000):report_reader@my-pg-db:[12345]:LOG:  connection authorized: user=report_reader database=my-pg-db"},
		{"disconnection", "2026-11-21 00:00:00 UTC:10.12.13.14(40000):report_reader@my-pg-db:[12345]:LOG:  disconnection: session time: 0:00:01.002 user=report_reader database=my-pg-db host=10.12.13.14 port=40000"},
	} {
		line := []byte(tc.line)
		b.Run(tc.name, func(b *testing.B) {
			var l Line
			for i := 0; i < b.N; i++ {
				l = Line{}
				parse(&l, line)
			}
		})
	}
}
