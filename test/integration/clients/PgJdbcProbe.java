// The PostgreSQL JDBC driver (pgjdbc) through pcigate, for test/integration/pg-proxy-jdbc.test.ts: run in
// Java's source-file mode, `java -cp postgresql.jar PgJdbcProbe.java HOST PORT DATABASE USER PASSWORD`.
// Each step prints `step=<name> <facts>` on one line; the test compares them with what the server and the
// audit log say. Nothing here is asserted: a failure prints `step=<name> error=<SQLState> <message>`.
import java.io.StringReader;
import java.io.StringWriter;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class PgJdbcProbe {
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

  // Card numbers stored as bigint, read through prepared statements that pgjdbc runs as named server-side
  // statements with binary results from the 5th execution, interleaved with a same-shaped text query, so the
  // rows of one arrive after the other's RowDescription. Prints every value as the application sees it.
  static void cards(String url, Properties p) throws Exception {
    try (Connection c = DriverManager.getConnection(url, p);
         PreparedStatement card = c.prepareStatement("select card_no from cards_bigint where id = ?");
         PreparedStatement note = c.prepareStatement("select note from cards_bigint where id = ?");
         PreparedStatement both = c.prepareStatement("select id, card_no, card_no::numeric as card_num from cards_bigint order by id")) {
      for (int i = 0; i < 8; i++) {
        int id = 1 + (i % 2);
        card.setInt(1, id);
        try (ResultSet r = card.executeQuery()) { r.next(); System.out.println("card=" + r.getString(1)); }
        note.setInt(1, id);
        try (ResultSet r = note.executeQuery()) { r.next(); System.out.println("note=" + r.getString(1).replace(' ', '_')); }
        try (ResultSet r = both.executeQuery()) {
          while (r.next()) System.out.println("row=" + r.getInt(1) + "|" + r.getString(2) + "|" + r.getString(3));
        }
      }
    }
    System.out.println("done");
  }

  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", a[3]);
    p.setProperty("password", a[4]);
    p.setProperty("sslmode", "disable");
    p.setProperty("ApplicationName", "jdbc-probe");
    String url = "jdbc:postgresql://" + a[0] + ":" + a[1] + "/" + a[2];
    if (a.length > 5 && a[5].equals("cards")) { cards(url, p); return; }
    try (Connection c = DriverManager.getConnection(url, p)) {
      step(c, "connect", x -> {
        try (Statement s = x.createStatement(); ResultSet r = s.executeQuery("select 'jdbc ' || 40 + 2 as v")) {
          r.next();
          return "value=" + r.getString(1);
        }
      });
      // pgjdbc switches to a named server-side statement (and binary results) from the 5th execution.
      step(c, "prepared", x -> {
        StringBuilder got = new StringBuilder();
        try (PreparedStatement ps = x.prepareStatement("select name from jdbc_items where id = ?")) {
          for (int i = 1; i <= 7; i++) {
            ps.setInt(1, i);
            try (ResultSet r = ps.executeQuery()) { r.next(); got.append(r.getString(1).replace(' ', '_')).append(','); }
          }
        }
        return "names=" + got;
      });
      // executeBatch: many Bind/Execute before one Sync.
      step(c, "batch", x -> {
        try (PreparedStatement ps = x.prepareStatement("insert into jdbc_batch (id, note) values (?, ?)")) {
          for (int i = 1; i <= 50; i++) { ps.setInt(1, i); ps.setString(2, "note " + i); ps.addBatch(); }
          int[] counts = ps.executeBatch();
          int sum = 0;
          for (int n : counts) sum += n;
          return "statements=" + counts.length + " rows=" + sum;
        }
      });
      // A batch whose 3rd insert fails: the server skips the rest up to the Sync and rolls back the whole
      // implicit transaction.
      step(c, "failing_batch", x -> {
        try (PreparedStatement ps = x.prepareStatement("insert into jdbc_batch (id, note) values (?, ?)")) {
          int[] ids = {101, 102, 1, 103, 104};
          for (int id : ids) { ps.setInt(1, id); ps.setString(2, "second " + id); ps.addBatch(); }
          ps.executeBatch();
          return "unexpected=success";
        } catch (BatchUpdateException e) {
          SQLException next = e.getNextException();
          return "error=" + (next != null ? next.getSQLState() : e.getSQLState());
        }
      });
      step(c, "after_failing_batch", x -> {
        try (Statement s = x.createStatement(); ResultSet r = s.executeQuery("select count(*) from jdbc_batch")) {
          r.next();
          return "count=" + r.getInt(1);
        }
      });
      // A cursor: autocommit off + fetch size -> Execute with a row limit, PortalSuspended between fetches.
      step(c, "fetch_size", x -> {
        x.setAutoCommit(false);
        int rows = 0;
        long sum = 0;
        try (Statement s = x.createStatement()) {
          s.setFetchSize(10);
          try (ResultSet r = s.executeQuery("select id from jdbc_items where id <= 95 order by id")) {
            while (r.next()) { rows++; sum += r.getInt(1); }
          }
        }
        x.commit();
        x.setAutoCommit(true);
        return "rows=" + rows + " sum=" + sum;
      });
      step(c, "copy", x -> {
        CopyManager cm = x.unwrap(PGConnection.class).getCopyAPI();
        StringBuilder in = new StringBuilder();
        for (int i = 1; i <= 200; i++) in.append(i).append('\t').append("copied ").append(i).append('\n');
        long loaded = cm.copyIn("copy jdbc_copy (id, note) from stdin", new StringReader(in.toString()));
        StringWriter w = new StringWriter();
        long read = cm.copyOut("copy (select id, note from jdbc_copy order by id) to stdout", w);
        String[] lines = w.toString().split("\n");
        return "in=" + loaded + " out=" + read + " last=" + lines[lines.length - 1].replace('\t', '|').replace(' ', '_');
      });
      // setLong sends an int8 in binary: a PAN in it must be masked in the record, not shown as hex.
      step(c, "pan_param", x -> {
        try (PreparedStatement ps = x.prepareStatement("select count(*) from jdbc_items where id = ? or ? = 0")) {
          ps.setLong(1, 4111111111111111L);
          ps.setLong(2, 4111111111111111L);
          try (ResultSet r = ps.executeQuery()) { r.next(); return "count=" + r.getInt(1); }
        }
      });
      step(c, "denied", x -> {
        try (Statement s = x.createStatement()) {
          s.executeQuery("select * from forbidden_jdbc");
          return "unexpected=success";
        }
      });
      step(c, "after_denied", x -> {
        try (PreparedStatement ps = x.prepareStatement("select ?::int * 2")) {
          ps.setInt(1, 21);
          try (ResultSet r = ps.executeQuery()) { r.next(); return "value=" + r.getInt(1); }
        }
      });
      step(c, "cancel", x -> {
        try (Statement s = x.createStatement()) {
          Thread t = new Thread(() -> {
            try { Thread.sleep(1500); s.cancel(); } catch (Exception e) { /* reported by the query */ }
          });
          t.start();
          try {
            s.execute("select pg_sleep(30)");
            return "unexpected=success";
          } catch (SQLException e) {
            t.join();
            return "error=" + e.getSQLState();
          }
        }
      });
      step(c, "after_cancel", x -> {
        try (Statement s = x.createStatement(); ResultSet r = s.executeQuery("select 'still open'")) {
          r.next();
          return "value=" + r.getString(1).replace(' ', '_');
        }
      });
    }
    System.out.println("done");
  }
}
