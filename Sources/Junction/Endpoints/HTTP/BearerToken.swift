/// The `Authorization: Bearer <token>` check of the admin API and of `http-listener`
/// connectors. The comparison takes the same time wherever the presented value first differs
/// from the expected one, so the time of a refusal does not reveal how much of a guess was right.
enum BearerToken {
    /// Whether `authorization` (the header's value; nil when the request has none) is exactly
    /// `Bearer <token>`.
    static func accepts(_ authorization: String?, token: String) -> Bool {
        constantTimeEqual(Array((authorization ?? "").utf8), Array("Bearer \(token)".utf8))
    }

    /// Whether `presented` equals `expected`; the loop runs over all of `expected` whatever
    /// `presented` holds (only the expected length shows in the time).
    static func constantTimeEqual(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        for index in expected.indices {
            difference |= expected[index] ^ (index < presented.count ? presented[index] : 0)
        }
        return difference == 0
    }
}
