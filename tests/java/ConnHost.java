// A Java 17 provisioning host for ABI v1 through JNA (Debian's libjna-java): loads a connector,
// checks the version, describes, opens, tests, provisions a batch, searches, closes, and exercises the
// failure cases (NULL arguments, bad JSON, a panicking connector). Every returned buffer is freed
// through the connector's buf_free. An ABI 1.1 host: with a 1.1 connector it also cancels a call in
// flight from another thread and checks that foreign handles are refused; with a 1.0 connector it reads
// none of the 1.1 fields. Prints "N passed, N failed" last.
//
//   javac --release 17 -cp /usr/share/java/jna.jar -d target/java tests/java/ConnHost.java
//   java -cp /usr/share/java/jna.jar:target/java ConnHost target/debug/libfake_connector.so

import com.sun.jna.Callback;
import com.sun.jna.IntegerType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

public class ConnHost {
    static final int CONN_ABI_MAJOR = 1;
    static final int CONN_OK = 0, CONN_ERR_INVALID_ARG = 1, CONN_ERR_ABI_MISMATCH = 2,
            CONN_ERR_UNSUPPORTED = 3, CONN_ERR_CONNECTOR = 4, CONN_ERR_PANIC = 5;

    /** size_t, sized for this platform. */
    public static class SizeT extends IntegerType {
        public SizeT() { this(0); }
        public SizeT(long v) { super(Native.SIZE_T_SIZE, v, true); }
    }

    @Structure.FieldOrder({"ptr", "len", "cap"})
    public static class ConnBuf extends Structure {
        public Pointer ptr;
        public SizeT len;
        public SizeT cap;
        public ConnBuf() { len = new SizeT(); cap = new SizeT(); }
        String text() {
            return ptr == null ? "" : new String(ptr.getByteArray(0, len.intValue()), StandardCharsets.UTF_8);
        }
    }

    public interface LogCb extends Callback { void invoke(Pointer userData, int level, Pointer msg, SizeT len); }
    public interface BufFree extends Callback { void invoke(ConnBuf buf); }
    public interface Describe extends Callback { int invoke(ConnBuf out, ConnBuf err); }
    public interface InstanceNew extends Callback { int invoke(byte[] settings, SizeT len, PointerByReference out, ConnBuf err); }
    public interface InstanceFree extends Callback { void invoke(Pointer inst); }
    public interface Op extends Callback { int invoke(Pointer inst, byte[] req, SizeT len, ConnBuf out, ConnBuf err); }

    @Structure.FieldOrder({"struct_size", "abi_major", "abi_minor", "user_data", "log"})
    public static class ConnHostV1 extends Structure {
        public int struct_size;
        public short abi_major;
        public short abi_minor;
        public Pointer user_data;
        public LogCb log;
    }

    @Structure.FieldOrder({"struct_size", "abi_major", "abi_minor", "buf_free", "describe", "instance_new",
            "instance_free", "test", "provision", "search"})
    public static class ConnPluginV1 extends Structure {
        public int struct_size;
        public short abi_major;
        public short abi_minor;
        public BufFree buf_free;
        public Describe describe;
        public InstanceNew instance_new;
        public InstanceFree instance_free;
        public Op test;
        public Op provision;
        public Op search;
        public ConnPluginV1(Pointer p) { super(p); read(); }
    }

    public interface Conn extends Library {
        int conn_abi_version();
        int conn_plugin_entry(ConnHostV1 host, PointerByReference out);
    }

    static int passed = 0, failed = 0;
    static final AtomicInteger logLines = new AtomicInteger();
    // Held strongly for the life of the process: the connector may call it from any thread.
    static final LogCb LOG = (ud, level, msg, len) -> {
        logLines.incrementAndGet();
        System.err.println("[connector log " + level + "] "
                + new String(msg.getByteArray(0, len.intValue()), StandardCharsets.UTF_8));
    };

    static void check(boolean cond, String what) {
        if (cond) { passed++; } else { failed++; System.err.println("FAIL: " + what); }
    }

    static ConnPluginV1 vt;

    /** Calls an operation; returns {status, response-or-error text}; frees both buffers. */
    static Object[] call(Op op, Pointer inst, String json) {
        byte[] req = json == null ? null : json.getBytes(StandardCharsets.UTF_8);
        ConnBuf out = new ConnBuf(), err = new ConnBuf();
        int st = op.invoke(inst, req, new SizeT(req == null ? 5 : req.length), out, err);
        String text = st == CONN_OK ? out.text() : err.text();
        vt.buf_free.invoke(out);
        vt.buf_free.invoke(err);
        return new Object[] {st, text};
    }

    static Pointer open(String settings, StringBuilder error) {
        byte[] s = settings.getBytes(StandardCharsets.UTF_8);
        PointerByReference out = new PointerByReference();
        ConnBuf err = new ConnBuf();
        int st = vt.instance_new.invoke(s, new SizeT(s.length), out, err);
        if (error != null) error.append(err.text());
        vt.buf_free.invoke(err);
        return st == CONN_OK ? out.getValue() : null;
    }

    /** Loads a connector and returns its table (checks the version and the entry point). */
    static PointerByReference loadTable(Conn lib) {
        ConnHostV1 host = new ConnHostV1();
        host.abi_major = (short) CONN_ABI_MAJOR;
        host.abi_minor = 1;
        host.log = LOG;
        host.struct_size = host.size();
        PointerByReference tableRef = new PointerByReference();
        check(lib.conn_plugin_entry(host, tableRef) == CONN_OK, "entry returns the table");
        return tableRef;
    }

    /** The Slack connector against slack-sim: create, update, disable, a group; every buffer freed. */
    static void runSlack(String path, String settings) {
        Conn lib = Native.load(path, Conn.class);
        check((lib.conn_abi_version() >>> 16) == CONN_ABI_MAJOR, "ABI major matches");
        vt = new ConnPluginV1(loadTable(lib).getValue());
        ConnBuf out = new ConnBuf(), err = new ConnBuf();
        check(vt.describe.invoke(out, err) == CONN_OK && out.text().contains("\"name\":\"slack\""), "describe");
        vt.buf_free.invoke(out);
        StringBuilder e = new StringBuilder();
        Pointer inst = open(settings, e);
        check(inst != null, "instance_new: " + e);
        if (inst == null) return;
        String create = "{\"records\":["
                + "{\"object_class\":\"user\",\"source_id\":\"j1\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"java.one\",\"primaryEmail\":\"java.one@example.com\",\"title\":\"Dev\"}},"
                + "{\"object_class\":\"user\",\"source_id\":\"j2\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"java.two\",\"primaryEmail\":\"java.two@example.com\"}}]}";
        Object[] r = call(vt.provision, inst, create);
        String text = (String) r[1];
        check((int) r[0] == CONN_OK && text.split("\"outcome\":\"created\"", -1).length == 3, "two users created: " + text);
        String id1 = targetId(text, "j1"), id2 = targetId(text, "j2");
        check(id1 != null && id2 != null, "target ids returned");
        r = call(vt.provision, inst, "{\"records\":[{\"object_class\":\"user\",\"source_id\":\"j1\",\"target_id\":\"" + id1
                + "\",\"event\":\"upsert\",\"changed\":[\"title\"],\"attributes\":{\"userName\":\"java.one\",\"primaryEmail\":\"java.one@example.com\",\"title\":\"Lead\"}}]}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("\"outcome\":\"updated\""), "update: " + r[1]);
        r = call(vt.provision, inst, "{\"records\":[{\"object_class\":\"group\",\"source_id\":\"g1\",\"event\":\"upsert\",\"attributes\":{\"displayName\":\"java-crew\"},"
                + "\"members\":[{\"source_id\":\"j1\",\"target_id\":\"" + id1 + "\"},{\"source_id\":\"j2\",\"target_id\":\"" + id2 + "\"}]}]}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("\"outcome\":\"created\""), "group created: " + r[1]);
        r = call(vt.provision, inst, "{\"records\":[{\"object_class\":\"user\",\"source_id\":\"j2\",\"target_id\":\"" + id2
                + "\",\"event\":\"disable\",\"attributes\":{}}]}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("\"outcome\":\"disabled\""), "disable: " + r[1]);
        r = call(vt.search, inst, "{\"object_class\":\"group\",\"page_size\":10}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("java-crew"), "search sees the group");
        // Every buffer handed out was freed: the connector's own count says so.
        r = call(vt.test, inst, "{}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("\"abi_live_buffers\":0"), "no leaked buffers: " + r[1]);
        vt.instance_free.invoke(inst);
    }

    /** The target id of `sourceId`'s result in a provision response (a tiny scan; no JSON library). */
    static String targetId(String json, String sourceId) {
        int at = json.indexOf("\"source_id\":\"" + sourceId + "\"");
        if (at < 0) return null;
        int end = json.indexOf('}', at);
        int t = json.indexOf("\"target_id\":\"", at);
        if (t < 0 || (end >= 0 && t > end)) return null;
        int start = t + "\"target_id\":\"".length();
        return json.substring(start, json.indexOf('"', start));
    }

    public static void main(String[] args) {
        if (args.length < 1) { System.err.println("usage: ConnHost LIB | ConnHost slack LIB SETTINGS_JSON"); System.exit(2); }
        if (args[0].equals("slack") && args.length >= 3) {
            runSlack(args[1], args[2]);
            System.out.println(passed + " passed, " + failed + " failed");
            System.exit(failed == 0 && passed > 0 ? 0 : 1);
        }
        Conn lib = Native.load(args[0], Conn.class);
        int v = lib.conn_abi_version();
        check((v >>> 16) == CONN_ABI_MAJOR, "ABI major matches");

        ConnHostV1 host = new ConnHostV1();
        host.abi_major = (short) CONN_ABI_MAJOR;
        host.abi_minor = 1;
        host.log = LOG;
        host.struct_size = host.size();
        check(host.size() == 24 || Native.POINTER_SIZE != 8, "ConnHostV1 is 24 bytes on 64-bit");
        PointerByReference tableRef = new PointerByReference();
        ConnHostV1 wrong = new ConnHostV1();
        wrong.abi_major = (short) (CONN_ABI_MAJOR + 1);
        wrong.struct_size = wrong.size();
        check(lib.conn_plugin_entry(wrong, tableRef) == CONN_ERR_ABI_MISMATCH, "entry rejects another major");
        check(lib.conn_plugin_entry(host, tableRef) == CONN_OK, "entry returns the table");
        vt = new ConnPluginV1(tableRef.getValue());
        check(vt.struct_size >= 64, "table covers v1.0");

        ConnBuf out = new ConnBuf(), err = new ConnBuf();
        check(vt.describe.invoke(out, err) == CONN_OK, "describe");
        check(out.text().contains("\"name\":\"fake\""), "descriptor names the connector");
        vt.buf_free.invoke(out);
        check(out.ptr == null && out.len.longValue() == 0, "buf_free resets the buffer");

        Pointer inst = open("{\"v\":1,\"settings\":{\"fail_source_ids\":[\"bad\"],\"secret\":\"s3cr3t\"}}", null);
        check(inst != null, "instance_new");
        Object[] r = call(vt.test, inst, "{\"v\":1}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("reachable"), "test");

        String batch = "{\"v\":1,\"records\":["
                + "{\"object_class\":\"user\",\"source_id\":\"a\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"ä\"}},"
                + "{\"object_class\":\"user\",\"source_id\":\"bad\",\"event\":\"upsert\",\"attributes\":{}}]}";
        r = call(vt.provision, inst, batch);
        check((int) r[0] == CONN_OK, "provision");
        check(((String) r[1]).contains("\"outcome\":\"created\""), "created outcome");
        check(((String) r[1]).contains("invalid_attribute"), "typed per-record failure");
        check(!((String) r[1]).contains("s3cr3t"), "secret never echoed");

        r = call(vt.search, inst, "{\"object_class\":\"user\",\"page_size\":10}");
        check((int) r[0] == CONN_OK && ((String) r[1]).contains("\"total\":1"), "search");

        // Failure cases.
        r = call(vt.provision, null, "{}");
        check((int) r[0] == CONN_ERR_INVALID_ARG && ((String) r[1]).contains("instance is NULL"), "NULL instance");
        r = call(vt.provision, inst, null);
        check((int) r[0] == CONN_ERR_INVALID_ARG, "NULL request");
        r = call(vt.provision, inst, "{\"records\": [");
        check((int) r[0] == CONN_ERR_INVALID_ARG && ((String) r[1]).contains("not valid JSON"), "bad JSON");
        StringBuilder e = new StringBuilder();
        check(open("{\"settings\":{\"reject_open\":true}}", e) == null && e.toString().contains("configuration"), "open refusal");

        Pointer panicky = open("{\"settings\":{\"panic_in\":\"provision\"}}", null);
        r = call(vt.provision, panicky, "{\"records\":[]}");
        check((int) r[0] == CONN_ERR_PANIC && ((String) r[1]).contains("panicked"), "panic becomes a status");
        vt.instance_free.invoke(panicky);
        Pointer unsupported = open("{\"settings\":{\"unsupported\":[\"search\"]}}", null);
        r = call(vt.search, unsupported, "{\"object_class\":\"user\"}");
        check((int) r[0] == CONN_ERR_UNSUPPORTED, "unsupported");
        vt.instance_free.invoke(unsupported);

        // ABI 1.1, read only when the negotiated minor has it and struct_size covers it.
        int cancelOffset = 8 + 7 * Native.POINTER_SIZE;
        if (vt.abi_minor >= 1 && vt.struct_size >= cancelOffset + 2 * Native.POINTER_SIZE) {
            com.sun.jna.Function cancel = com.sun.jna.Function.getFunction(tableRef.getValue().getPointer(cancelOffset));
            Pointer slow = open("{\"settings\":{\"sleep_ms\":20000}}", null);
            Thread canceller = new Thread(() -> {
                try { Thread.sleep(200); } catch (InterruptedException ie) { Thread.currentThread().interrupt(); }
                cancel.invokeInt(new Object[] {slow});
            });
            long started = System.nanoTime();
            canceller.start();
            r = call(vt.provision, slow, "{\"records\":[{\"object_class\":\"user\",\"source_id\":\"x\",\"event\":\"upsert\"}]}");
            try { canceller.join(); } catch (InterruptedException ie) { Thread.currentThread().interrupt(); }
            check((int) r[0] == CONN_OK && ((String) r[1]).contains("cancelled"), "cancel from another thread: " + r[1]);
            check(System.nanoTime() - started < 10_000_000_000L, "cancel cut the call short");
            com.sun.jna.Memory foreign = new com.sun.jna.Memory(8);
            check(cancel.invokeInt(new Object[] {foreign}) == CONN_ERR_INVALID_ARG, "cancel refuses a foreign handle");
            r = call(vt.provision, foreign, "{}");
            check((int) r[0] == CONN_ERR_INVALID_ARG, "provision refuses a foreign handle");
            vt.instance_free.invoke(slow);
        } else {
            check(vt.abi_minor == 0 && vt.struct_size == 8 + 7 * Native.POINTER_SIZE, "a 1.0 connector: no 1.1 entries");
        }

        // Every buffer handed out was freed: the connector's own count says so.
        r = call(vt.test, inst, "{}");
        check(((String) r[1]).contains("\"live_buffers\":0"), "no leaked buffers: " + r[1]);
        vt.instance_free.invoke(inst);
        check(logLines.get() > 0, "connector logged through the host callback");

        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
