// What a Java service on a connection pool does through pcigate under a realistic policy, for
// test/integration/pg-clients-jdbc.test.ts: `java -cp postgresql.jar PgJdbcAppProbe.java HOST PORT DATABASE USER
// PASSWORD TAG [KEY=VALUE…]` (pgjdbc connection properties such as preferQueryMode=simple). Each step prints
// `step=<name> <facts>`; TAG marks the rows it writes. Nothing is asserted here: a failure prints
// `step=<name> error=<SQLState> <message>`.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.Properties;

public class PgJdbcAppProbe {
  interface Step { String run(Connection c) throws Exception; }

  static void step(Connection c, String name, Step s) {
    String out;
    try {
      out = s.run(c);
    } catch (SQLException e) {
      out = "error=" + e.getSQLState() + " " + e.getMessage().replace('\n', ' ');
    } catch (Exception e) {
      out = "error=exception " + e;
    }
    System.out.println("step=" + name + " " + out);
  }

  static String one(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) { r.next(); return r.getString(1); }
  }

  static String state(SQLException e) { return e.getSQLState(); }

  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", a[3]);
    p.setProperty("password", a[4]);
    p.setProperty("sslmode", "disable");
    p.setProperty("ApplicationName", "jdbc-app-probe");
    String tag = a[5];
    for (int i = 6; i < a.length; i++) { String[] kv = a[i].split("=", 2); p.setProperty(kv[0], kv[1]); }
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://" + a[0] + ":" + a[1] + "/" + a[2], p)) {
      // HikariCP's default validation (no connectionTestQuery): Connection.isValid.
      step(c, "is_valid", x -> "valid=" + x.isValid(5));
      // Autocommit off; a savepoint rolled back after a server error and after a policy refusal.
      step(c, "savepoints", x -> {
        x.setAutoCommit(false);
        try (Statement s = x.createStatement()) {
          s.executeUpdate("insert into app_log (tag, msg) values ('" + tag + "', 'before')");
          Savepoint sp = x.setSavepoint("sp1");
          String dup = "none";
          try { s.executeUpdate("insert into app_items values (1, 'dup')"); } catch (SQLException e) { dup = state(e); }
          x.rollback(sp);
          s.executeUpdate("insert into app_log (tag, msg) values ('" + tag + "', 'between')");
          Savepoint sp2 = x.setSavepoint();
          String denied = "none";
          try (ResultSet r = s.executeQuery("select * from app_secrets")) { r.next(); } catch (SQLException e) { denied = state(e); }
          x.rollback(sp2);
          s.executeUpdate("insert into app_log (tag, msg) values ('" + tag + "', 'after')");
          x.commit();
          return "dup=" + dup + " denied=" + denied;
        } finally {
          x.setAutoCommit(true);
        }
      });
      // A refusal outside any savepoint fails the transaction as a server error would.
      step(c, "denied_in_tx", x -> {
        x.setAutoCommit(false);
        try (Statement s = x.createStatement()) {
          s.executeUpdate("insert into app_log (tag, msg) values ('" + tag + "', 'rolled back')");
          String first = "none";
          try (ResultSet r = s.executeQuery("select * from app_secrets")) { r.next(); } catch (SQLException e) { first = state(e); }
          String next = "none";
          try (ResultSet r = s.executeQuery("select 1")) { r.next(); } catch (SQLException e) { next = state(e); }
          x.rollback();
          return "first=" + first + " next=" + next + " after=" + one(x, "select 'usable'");
        } finally {
          x.setAutoCommit(true);
        }
      });
      // setFetchSize with autocommit off: portals read in pieces, two of them open at once, one prepared
      // statement run past the prepare threshold.
      step(c, "fetch_size", x -> {
        x.setAutoCommit(false);
        try (PreparedStatement ps = x.prepareStatement("select id from app_items where id > ? order by id")) {
          ps.setFetchSize(7);
          long rows = 0;
          long sum = 0;
          for (int k = 0; k < 6; k++) {
            ps.setInt(1, k * 10);
            try (ResultSet r = ps.executeQuery()) { while (r.next()) { rows++; sum += r.getInt(1); } }
          }
          try (Statement s1 = x.createStatement(); Statement s2 = x.createStatement()) {
            s1.setFetchSize(5);
            s2.setFetchSize(3);
            try (ResultSet up = s1.executeQuery("select id from app_items order by id"); ResultSet down = s2.executeQuery("select id from app_items order by id desc")) {
              while (up.next() && down.next()) { rows++; sum += up.getInt(1) * 1000L + down.getInt(1); }
            }
          }
          x.commit();
          return "rows=" + rows + " sum=" + sum;
        } finally {
          x.setAutoCommit(true);
        }
      });
      // Card numbers as the application reads them: text and bigint, past the prepare threshold (binary).
      step(c, "cards", x -> {
        StringBuilder b = new StringBuilder();
        try (PreparedStatement ps = x.prepareStatement("select card_no, card_num, note from app_cards where id = ?")) {
          for (int i = 0; i < 6; i++) {
            ps.setInt(1, 1 + i % 2);
            try (ResultSet r = ps.executeQuery()) { r.next(); b.append(r.getString(1)).append('|').append(r.getString(2)).append('|').append(r.getString(3)).append(';'); }
          }
        }
        return "values=" + b;
      });
      // A write held for an approval nobody gives, under a query timeout: pgjdbc cancels it when the timeout
      // fires, as it would a statement waiting on a lock.
      step(c, "held_timeout", x -> {
        try (Statement s = x.createStatement()) {
          s.setQueryTimeout(2);
          long t0 = System.nanoTime();
          String r;
          try { s.executeUpdate("delete from app_log"); r = "unexpected=success"; } catch (SQLException e) { r = "error=" + state(e); }
          return r + " seconds=" + ((System.nanoTime() - t0) / 1_000_000_000L);
        }
      });
      step(c, "after_held", x -> "value=" + one(x, "select 'still open'").replace(' ', '_'));
      // What database tools (DBeaver, DataGrip) and ORMs ask the driver: DatabaseMetaData and ResultSetMetaData,
      // which pgjdbc answers with catalog queries (format_type, pg_get_expr, information_schema._pg_expandarray).
      step(c, "metadata", x -> {
        java.sql.DatabaseMetaData md = x.getMetaData();
        StringBuilder b = new StringBuilder();
        try (ResultSet r = md.getTables(null, "public", "app_items", new String[] {"TABLE"})) { while (r.next()) b.append("table:").append(r.getString("TABLE_NAME")).append(';'); }
        try (ResultSet r = md.getColumns(null, "public", "app_items", null)) { while (r.next()) b.append("col:").append(r.getString("COLUMN_NAME")).append(':').append(r.getString("TYPE_NAME")).append(';'); }
        try (ResultSet r = md.getPrimaryKeys(null, "public", "app_items")) { while (r.next()) b.append("pk:").append(r.getString("COLUMN_NAME")).append(';'); }
        try (ResultSet r = md.getIndexInfo(null, "public", "app_items", false, false)) { while (r.next()) if (r.getString("INDEX_NAME") != null) b.append("idx:").append(r.getString("COLUMN_NAME")).append(';'); }
        try (Statement s = x.createStatement(); ResultSet r = s.executeQuery("select id, name from app_items where id = 1")) {
          java.sql.ResultSetMetaData rm = r.getMetaData();
          b.append("rsmd:").append(rm.getTableName(1)).append(':').append(rm.isNullable(1)).append(':').append(rm.isAutoIncrement(1)).append(';');
        }
        return b.toString();
      });
    }
    System.out.println("done");
  }
}
