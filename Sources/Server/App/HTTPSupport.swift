import Hummingbird
import NIOCore
import Query
import SwitchboardCore

/// Building Directus-shaped responses and reading requests.
enum HTTPSupport {
    static let jsonType = "application/json; charset=utf-8"

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, contentType: String = jsonType) -> Response {
        let bytes = value.jsonBytes
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `{"data": …}` with optional `meta`.
    static func data(_ value: JSONValue, meta: JSONObject? = nil) -> Response {
        var body: JSONObject = ["data": value]
        if let meta { body["meta"] = .object(meta) }
        return json(.object(body))
    }

    /// A file the server ships (the demo and admin pages): never cached stale, never sniffed, under `policy`.
    static func staticAsset(_ body: ByteBuffer, type: String, policy: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] = policy
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    static func noContent() -> Response { Response(status: .noContent) }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ error: SwitchboardError) -> Response {
        json(
            ["errors": [.object(error.restObject)]],
            status: HTTPResponse.Status(code: error.code.httpStatus))
    }

    /// The JSON body, or nil when empty. Bodies over `limit` bytes and malformed JSON are `INVALID_PAYLOAD`.
    static func body(_ request: Request, limit: Int) async throws -> JSONValue? {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw SwitchboardError.invalidPayload("request entity too large")
        } catch is NIOTooManyBytesError {
            throw SwitchboardError.invalidPayload("request entity too large")
        }
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try buffer.withUnsafeReadableBytes { raw in
                try JSONReader.parse(buffer: raw.bindMemory(to: UInt8.self))
            }
        } catch {
            throw SwitchboardError.invalidPayload("Invalid JSON body: \(error)")
        }
    }

    static func objectBody(_ request: Request, limit: Int) async throws -> JSONObject {
        guard let body = try await body(request, limit: limit) else { return [:] }
        guard case .object(let o) = body else { throw SwitchboardError.invalidPayload("The request body must be a JSON object.") }
        return o
    }

    /// Query string pairs, `+` and percent-escapes decoded in names and values.
    static func queryItems(_ request: Request) -> [(name: String, value: String)] {
        QueryParameterTree.pairs(request.uri.query.map { Substring($0) } ?? "")
    }

    static func queryValue(_ request: Request, _ name: String) -> String? {
        queryItems(request).last { $0.name == name }?.value
    }

    /// The Directus query of a request's URL.
    static func itemQuery(_ request: Request, limits: QueryLimits) throws -> ItemQuery {
        try ItemQuery.parse(queryItems: queryItems(request), limits: limits)
    }
}
