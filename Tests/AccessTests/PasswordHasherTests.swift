import Testing

@testable import Access

@Suite struct PasswordHasherTests {
    /// Cheap costs so the suite stays fast; the default costs get one test of their own.
    let fast = PasswordHasher(memoryKiB: 1024, iterations: 1, parallelism: 1)

    @Test func hashAndVerify() throws {
        let phc = try fast.hash("correct horse battery staple")
        #expect(phc.hasPrefix("$argon2id$v=19$m=1024,t=1,p=1$"))
        #expect(fast.verify("correct horse battery staple", against: phc))
        #expect(!fast.verify("correct horse battery stapler", against: phc))
        #expect(!fast.verify("", against: phc))
        // A fresh salt each time.
        #expect(try fast.hash("correct horse battery staple") != phc)
    }

    @Test func defaultsMatchDirectus() throws {
        let hasher = PasswordHasher()
        #expect(hasher.memoryKiB == 65536 && hasher.iterations == 3 && hasher.parallelism == 4)
        let phc = try hasher.hash("secret")
        #expect(phc.hasPrefix("$argon2id$v=19$m=65536,t=3,p=4$"))
        let parts = phc.split(separator: "$")
        #expect(parts.count == 5)
        #expect(parts[3].count == 22)  // 16-byte salt, unpadded base64
        #expect(parts[4].count == 43)  // 32-byte hash, unpadded base64
        #expect(hasher.verify("secret", against: phc))
        #expect(!hasher.needsRehash(phc))
        #expect(hasher.needsRehash(try fast.hash("secret")))
    }

    /// Made with Python `argon2-cffi` (`argon2.low_level.hash_secret`, salt
    /// bytes 0x00...0x0f) with the node `argon2` defaults Directus uses.
    @Test func knownArgon2idVector() throws {
        let phc = "$argon2id$v=19$m=65536,t=3,p=4$AAECAwQFBgcICQoLDA0ODw$hTsnKkTbFCHAKWJmmlXrCZTzyrOF7RxMeSU+7hm6tJ4"
        #expect(fast.verify("correct horse battery staple", against: phc))
        #expect(!fast.verify("correct horse battery staplE", against: phc))
        // And we produce the same string from the same salt.
        let hasher = PasswordHasher()
        #expect(try hasher.hash("correct horse battery staple", salt: Array(0..<16)) == phc)
    }

    /// Other variants, costs and hash lengths verify too: the string decides.
    @Test(arguments: [
        ("hunter2", "$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$/G/6ZUpFxMPv5K3t4wkSkJuYHwmQZZ5R1dDlj3cZ6/Y"),
        ("hunter2", "$argon2d$v=19$m=1024,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$zJX0qFideIOwwcHSDE6wSVYsZSqsB0Yb"),
        ("pässwörd ✓", "$argon2id$v=19$m=256,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$tfbPdjCVMPTyDT6kxHww7g"),
    ])
    func otherVariantsAndParameters(_ password: String, _ phc: String) {
        #expect(fast.verify(password, against: phc))
        #expect(!fast.verify(password + "x", against: phc))
        #expect(fast.needsRehash(phc))
        // Claiming another variant for the same hash fails.
        for variant in ["argon2i", "argon2d", "argon2id"] where !phc.hasPrefix("$\(variant)$") {
            let rest = phc.dropFirst().drop { $0 != "$" }  // "$v=19$m=…"
            let relabelled = "$\(variant)" + rest
            #expect(relabelled.hasPrefix("$\(variant)$v=19$m="))
            #expect(!fast.verify(password, against: relabelled))
        }
    }

    @Test(arguments: [
        "", "garbage", "$argon2id$", "$argon2id$v=19$m=1024,t=1,p=1$", "$bcrypt$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$aGFzaA",
        "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
        "$argon2id$v=19$m=1024,t=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$!!!$aGFzaA",
        "$argon2id$v=19$m=abc,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=65536,t=3,p=4$AAECAwQFBgcICQoLDA0ODw$hTsnKkTbFCHAKWJmmlXrCZTzyrOF7RxMeSU+7hm6tJ",
    ])
    func garbageNeverVerifies(_ phc: String) {
        #expect(!fast.verify("correct horse battery staple", against: phc))
        #expect(!fast.verify("", against: phc))
        #expect(fast.needsRehash(phc))
    }

    @Test func emptyAndUnicodePasswords() throws {
        let empty = try fast.hash("")
        #expect(fast.verify("", against: empty))
        #expect(!fast.verify(" ", against: empty))
        let unicode = try fast.hash("пароль🔑")
        #expect(fast.verify("пароль🔑", against: unicode))
        // Different normalisation is a different password (bytes are hashed as given).
        #expect(!fast.verify("e\u{301}", against: try fast.hash("\u{E9}")))
    }

    @Test func badParametersThrow() {
        let broken = PasswordHasher(memoryKiB: 1, iterations: 1, parallelism: 1)
        let error = #expect(throws: PasswordHashError.self) { try broken.hash("x") }
        #expect(error?.message.isEmpty == false)
    }
}
