"use strict";
// A store-only ZIP writer: images are compressed already, so entries are stored as they are.
// No ZIP64: the archive must stay under 4 GiB and 65535 entries (the page refuses more).
const SuperresZip = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01: the archive does not depend on the clock

  function header(signature, length) {
    const view = new DataView(new ArrayBuffer(length));
    view.setUint32(0, signature, true);
    return view;
  }

  // files: [{name: string, bytes: Uint8Array}] -> Blob of a ZIP archive
  function makeZip(files) {
    const encoder = new TextEncoder();
    const parts = [], central = [];
    let offset = 0;
    for (const file of files) {
      const name = encoder.encode(file.name), size = file.bytes.length, crc = crc32(file.bytes);
      const local = header(0x04034b50, 30);
      local.setUint16(4, 20, true); // version needed: 2.0
      local.setUint16(6, 0x0800, true); // names are UTF-8
      local.setUint16(12, DOS_DATE, true);
      local.setUint32(14, crc, true);
      local.setUint32(18, size, true);
      local.setUint32(22, size, true);
      local.setUint16(26, name.length, true);
      parts.push(local, name, file.bytes);
      const entry = header(0x02014b50, 46);
      entry.setUint16(4, 20, true);
      entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true);
      entry.setUint16(14, DOS_DATE, true);
      entry.setUint32(16, crc, true);
      entry.setUint32(20, size, true);
      entry.setUint32(24, size, true);
      entry.setUint16(28, name.length, true);
      entry.setUint32(42, offset, true);
      central.push(entry, name);
      offset += 30 + name.length + size;
    }
    if (files.length > 65535 || offset > 0xffffffff) throw new Error("too much for a ZIP without ZIP64");
    const centralSize = central.reduce((sum, part) => sum + part.byteLength, 0);
    const end = header(0x06054b50, 22);
    end.setUint16(8, files.length, true);
    end.setUint16(10, files.length, true);
    end.setUint32(12, centralSize, true);
    end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end], { type: "application/zip" });
  }

  return { crc32, makeZip };
})();
