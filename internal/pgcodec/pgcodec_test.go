package pgcodec_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgcodec"
	"github.com/folio-dev/folio/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// The values round-trip through the server unchanged, in every exec mode
// (binary with the statement cache, and the text of the simple protocol),
// alone and in arrays, NULLs included.
func TestValuesRoundTrip(t *testing.T) {
	url := pgtest.URL(t)
	ids := []uuid.UUID{uuid.New(), uuid.MustParse("00000000-0000-0000-0000-000000000000"), uuid.Must(uuid.NewV7())}
	decs := []decimal.Decimal{
		decimal.RequireFromString("123456789012345678.1234567890"),
		decimal.RequireFromString("-0.0000000001"),
		decimal.Zero,
		decimal.RequireFromString("1e30"),
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			pool := pgtest.OpenPool(t, url, func(c *pgxpool.Config) {
				c.ConnConfig.DefaultQueryExecMode = mode
				c.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
					pgcodec.Register(conn.TypeMap())
					return nil
				}
			})
			for _, id := range ids {
				var got uuid.UUID
				require.NoError(t, pool.QueryRow(ctx, "select $1::uuid", id).Scan(&got))
				assert.Equal(t, id, got)
			}
			var gotIDs []uuid.UUID
			require.NoError(t, pool.QueryRow(ctx, "select $1::uuid[]", ids).Scan(&gotIDs))
			assert.Equal(t, ids, gotIDs)

			for _, d := range decs {
				var got decimal.Decimal
				require.NoError(t, pool.QueryRow(ctx, "select $1::numeric", d).Scan(&got))
				assert.True(t, d.Equal(got), "%s came back as %s", d, got)
			}
			var gotDecs []decimal.Decimal
			require.NoError(t, pool.QueryRow(ctx, "select $1::numeric[]", decs).Scan(&gotDecs))
			require.Len(t, gotDecs, len(decs))
			for i := range decs {
				assert.True(t, decs[i].Equal(gotDecs[i]))
			}

			var null decimal.NullDecimal
			require.NoError(t, pool.QueryRow(ctx, "select null::numeric").Scan(&null))
			assert.False(t, null.Valid)
			require.NoError(t, pool.QueryRow(ctx, "select $1::numeric", decimal.NullDecimal{Decimal: decs[0], Valid: true}).Scan(&null))
			assert.True(t, null.Valid && null.Decimal.Equal(decs[0]))

			var id uuid.UUID
			assert.Error(t, pool.QueryRow(ctx, "select null::uuid").Scan(&id), "NULL into a uuid.UUID")
			var d decimal.Decimal
			assert.Error(t, pool.QueryRow(ctx, "select 'NaN'::numeric").Scan(&d), "NaN into a decimal")
		})
	}
}

// The point of the package: scans and arguments of these types take the
// binary plans, not database/sql's Scanner and Valuer through text.
func TestPlansAreBinary(t *testing.T) {
	m := pgtype.NewMap()
	pgcodec.Register(m)
	for _, target := range []any{new(uuid.UUID), new(decimal.Decimal), new(decimal.NullDecimal)} {
		oid := uint32(pgtype.UUIDOID)
		if _, ok := target.(*uuid.UUID); !ok {
			oid = pgtype.NumericOID
		}
		plan := m.PlanScan(oid, pgtype.BinaryFormatCode, target)
		assert.NotContains(t, typeName(plan), "SQLScanner", "%T", target)
	}
	buf, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.UUID{1, 2, 3}, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, buf)

	// And they cost no allocation per value.
	var u uuid.UUID
	src := make([]byte, 16)
	plan := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &u)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = plan.Scan(src, &u) }))
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
