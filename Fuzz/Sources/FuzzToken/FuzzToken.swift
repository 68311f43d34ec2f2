import Tokens

/// Any string presented as an access token is refused (it was not signed with our key) with a
/// typed error, never a crash; base64url decoding never crashes; our own signature round-trips.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    let signer = AccessTokenSigner(secret: "fuzzing")
    _ = AccessTokenSigner.looksLikeJWT(text)
    if let claims = try? signer.verify(text, now: 0) {
        // Only a token we signed verifies; re-signing it must give a token that verifies the same.
        precondition((try? signer.verify(signer.sign(claims), now: 0)) == claims)
    }
    if let decoded = Base64URL.decode(text) { precondition(Base64URL.decode(Base64URL.encode(decoded)) == decoded) }
    return 0
}
