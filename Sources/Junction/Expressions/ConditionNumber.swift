/// A number compared exactly as integers when both are, as doubles otherwise.
enum ConditionNumber {
    case integer(Int64)
    case double(Double)

    /// A number operand, or a string operand that reads as a JSON number.
    init?(_ value: JSONValue) {
        switch value {
        case .integer(let integer): self = .integer(Int64(integer))
        case .double(let double): self = .double(double)
        case .string(let string): self.init(parsing: string)
        default: return nil
        }
    }

    /// Text in JSON number syntax (`-12`, `3.5`, `1e3`); nothing else, no spaces.
    init?(parsing text: String) {
        var text = text
        let isNumber = text.withUTF8 { StrictJSONSyntax.isNumber(UnsafeRawBufferPointer($0)) }
        guard isNumber else { return nil }
        if let integer = Int64(text) {
            self = .integer(integer)
        } else if let double = Double(text), double.isFinite {
            self = .double(double)
        } else {
            return nil
        }
    }

    var doubleValue: Double {
        switch self {
        case .integer(let integer): Double(integer)
        case .double(let double): double
        }
    }

    func compare(to other: ConditionNumber) -> Int {
        if case .integer(let a) = self, case .integer(let b) = other { return a < b ? -1 : a == b ? 0 : 1 }
        let a = doubleValue, b = other.doubleValue
        return a < b ? -1 : a == b ? 0 : 1
    }
}
